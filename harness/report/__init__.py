"""Stage 5, reporting: recorded cells → Markdown, JUnit, the HTML page, the picture, and `pick`."""
