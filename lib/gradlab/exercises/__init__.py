"""What the notebooks' tests compare with, one module per assignment: references, typical
mistakes and the checks built from them, so that a test cell is a few lines under its exercise
(``ex.check_predict(predict, params, state, X, "predict on 8 examples")``) and the hidden tests
reuse the same helpers.

A helper takes the student's functions as arguments and only calls them and reads what they
return (numbers, arrays, lists, tuples, dicts, and the attributes and operators of the objects
they build): it never inspects their code.  Each module's ``FORBID`` holds what the student's
code must not call: gradlab's references, which every reference here is built from.
"""
