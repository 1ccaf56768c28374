"""Where an engine runs: the wire protocol, the session that times it, child-process and thread
hosts, the pool of pre-warmed hosts."""
