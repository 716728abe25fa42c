"""What every stage shares with the machine: files written atomically and read with
checks (:mod:`.files`), and memory and step estimates checked before a run
(:mod:`.resources`)."""
