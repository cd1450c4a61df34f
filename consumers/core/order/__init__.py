"""The stream in one order, fixed by the data: each partition's intake, the watermarks, the
judge's merge of the partitions and the learner's order of events and labels."""
