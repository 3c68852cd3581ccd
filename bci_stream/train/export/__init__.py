"""Writing models: the step graph (preprocessing + decoder, state as I/O), torch export, upgrades. Needs the train
extra."""
