"""The land ledger: land-stock accounts, 批而未供, per-mu performance grading (亩均效益评价),
chain completeness and the townships' leaderboard (issue 14).

Every figure the ledger reports is a :class:`Figure`: its value, its definition in Chinese and
English, and the one SQL query that reproduces it, so a planner can check a number that goes
upward in a report.
"""
