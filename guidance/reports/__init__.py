"""Pages and pictures for people: the exercise report (``report.html``), the predicted-TRE map,
and the page and plot helpers that studies and grading share. Everything is self-contained HTML
with images embedded, so a report opens anywhere, offline."""
