"""The shape of a user's messages: where each field is, and fast decoders for JSON and Avro."""
