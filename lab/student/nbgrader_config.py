# The student lab's nbgrader settings (make lab).  Students only validate: the Validate button
# runs the notebook with nbgrader's defaults and lists the failing tests.  No course directory,
# no exchange: the course is handed out as files (course/ or a bundle), not through nbgrader.
c = get_config()  # noqa: F821

# Validate lists each failing test as its one-line name and its message, not the test's code
from gradlab.validate import one_message_per_test  # noqa: E402

c.Execute.on_cell_error = one_message_per_test
