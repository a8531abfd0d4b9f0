"""Playing the results (MPD); empty for now."""
