"""Care-team planning: workload, auto-assign and rebalance, transfer.

- ``planner``: the one planner, a pure function of (patients, LCMs, weights, rules) → moves;
- ``workload``: counted patients by holder, role and acuity, and what they weigh;
- ``plans``: the planner's inputs read from the database, and a plan applied through the
  care-team write core (``care_team.services``);
- ``inputs``, ``serializers``, ``views``: the routes.
"""
