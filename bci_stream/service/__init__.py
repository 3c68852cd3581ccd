"""The decoding service: worker processes (pull → step → publish), their supervisor, recorder and output ring."""
