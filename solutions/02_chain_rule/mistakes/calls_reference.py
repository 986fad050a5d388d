# story: imports gradlab's own Dual instead of writing one
# exercise: dual
# hint: tripwire
from gradlab.autodiff import Dual
