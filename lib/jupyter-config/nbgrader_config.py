# The students' nbgrader settings, installed with the course library into <env>/etc/jupyter, where
# nbgrader looks for its nbgrader_config.py (nbgrader/apps/baseapp.py, NbGrader.load_config_file
# over jupyter_config_path(); the Validate button's handler reads the same paths).  Students only
# validate: no course directory, no exchange (the course is handed out as files, not through
# nbgrader).
c = get_config()  # noqa: F821

# Validate lists each failing test as its one-line name and its message, not the test's code.
# Only Validate's own cell runner (nbgrader's Validator makes its Execute with parent=self): an
# instructor's autograde in the same environment keeps every test cell as it is.
from gradlab.validate import one_message_per_test  # noqa: E402

c.Validator.Execute.on_cell_error = one_message_per_test
