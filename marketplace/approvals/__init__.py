"""Central approval: assessed once (DTAC v2, DSPT, cyber, device, NICE), trusted by every
trust until its evidence lapses."""
