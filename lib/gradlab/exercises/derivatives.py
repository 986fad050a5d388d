"""The tests of 01_derivatives: the typical wrong answers of the difference quotients."""

from __future__ import annotations

from .. import calculus as ref

LOOKS_CENTRAL = {"it matches the central difference (f(x+h) - f(x-h))/(2h); the forward quotient steps one way "
                 "only: (f(x+h) - f(x))/h": ref.central_difference}
LOOKS_FORWARD = {"it matches the forward difference (f(x+h) - f(x))/h; a central difference steps to both sides: "
                 "(f(x+h) - f(x-h))/(2h)": ref.forward_difference}
