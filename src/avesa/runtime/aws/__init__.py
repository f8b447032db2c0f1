"""The AWS executor: Lambda handlers over the pipeline units and the Step Functions state machines
that call them (docs/aws.md, "Execution")."""
