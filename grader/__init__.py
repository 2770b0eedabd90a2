"""The Exercise 02 kit's grader.

Course author:  grader template        regenerate exercise02_template.py from solutions/exercise02.py
                grader release         build the student bundle (zip)
Tutor:          grader grade           grade every submission under submissions/ into report/

This package imports nothing at import time: grader.sandbox and its runtime (protocol, boot, mnist)
also ship in the student bundle and need only the standard library and NumPy.
"""
