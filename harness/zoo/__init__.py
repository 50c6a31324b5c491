"""The defect zoo: classic saga bugs switched on one at a time, and the harness must catch each.

A harness that never fails proves nothing. For every defect in system/defects.py the zoo runs a
detector (a simulation over the real domain code, or a chaos experiment against real processes)
with the defect on and checks that a named invariant fires; then runs the very same detector on
the correct system and checks that it passes.
"""
