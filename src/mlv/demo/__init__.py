"""The demo project: a small, real ML pipeline that ``mlv demo`` versions, runs and reproduces."""
