"""Personal data with an end date: redaction of audit rows, erasure on request, file retention."""
