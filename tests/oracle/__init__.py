"""Independent oracles the tests compare the engine against."""
