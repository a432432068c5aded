"""Tests of the front ends: the y4m/raw frame server, the lecinpaint command, VapourSynth."""
