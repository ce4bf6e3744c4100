"""netwatch: watches a provincial WAN by ICMP, SNMP and HTTP and exports it to Prometheus."""

__version__ = "0.1.0"
