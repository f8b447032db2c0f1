"""The AWS executor: Lambda handlers and the Step Functions state machines that call them."""
