"""One module per emulator group (bmc, switches, machines …); see apps.lab.registry."""
