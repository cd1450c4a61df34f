"""The online learner's parts, each pure bookkeeping over the learning order: the pending
mini-batch, the block of errors the concept detectors judge, quarantines ending on their quiet
time, rollbacks at a point fixed by the data, and what a call of the steps gives back."""
