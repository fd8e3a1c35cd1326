"""``mlv ci``: one verdict and one Markdown report for a continuous-integration job."""
