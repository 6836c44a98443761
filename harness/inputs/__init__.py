"""Reading untrusted input files within limits: bounded size, strict UTF-8, strict JSON and
bounded YAML. Problems are `BadInput` (with a line where one is known); each loader turns them
into its own HarnessError naming the file."""
