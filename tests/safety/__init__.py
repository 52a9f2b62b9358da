"""Safety before records: faults of the database never delay making an instrument safe."""
