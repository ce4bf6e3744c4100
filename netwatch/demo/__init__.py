"""``netwatch demo``: a simulated province on this machine, watched by a real netwatch daemon.

The pieces, each with one job:

- ``province``: the simulated province (sites, devices, addresses) and the netwatch config for it;
- ``snmprec``: the SNMP recordings snmpsim answers with, one per device;
- ``world``: the peers the daemon watches: snmpsim, the office web applications, a mail sink
  with its mailbox page;
- ``netns``: the network namespace and nftables rules that make faults with real packets;
- ``incident``: the scripted incident (a district line cut, a failing application) and its
  timeline;
- ``inside``: the process that runs in the namespace: the world, the daemon, the incident;
- ``run``: the ``netwatch demo`` command on the host: sockets for the browser, the namespace,
  clean-up on Ctrl-C.
"""
