"""The campaign report: Table 1 reproduced beside the patent, with every number traceable.

``daq.report.data`` reads what the campaign stored, ``daq.report.figures`` draws it
(matplotlib, Agg), ``daq.report.html`` writes the HTML page and the CSVs.
"""
