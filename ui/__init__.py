"""The ceremony wizard (PySide6): shows the flow's state, collects input, calls the flow.

No crypto and no file writing here: every action goes through
:mod:`ceremony.flow.wizard`, run off the GUI thread by :mod:`ui.worker`.
"""
