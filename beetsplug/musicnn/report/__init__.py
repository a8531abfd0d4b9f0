"""The HTML report: ``data`` (its numbers, packed) and ``page`` (the page,
from ``template.html`` and ``report.js``).
"""
