"""Every write of the installs app, one module per subject:

- `orders`: ordering, reinstalling and deleting devices; commissioning a server.
- `admission`: how many runs are in their first steps at once, and handing runs to workers.
- `workflow`: the engine that walks each run's step table, failure and clean-up, and the watchdog.
- `steps`: the platform steps the engine runs (the table `STEPS`) and their device calls.
- `machine`: the calls a booting machine makes (iPXE fetch, phone-home, inventory, failure).
- `power`: a customer's power actions on their device.
- `runs`: what all of them share: the step table (`WORKFLOWS`), the step errors, step deadlines,
  the timeline, and the step move that only the table's moves pass.
"""
