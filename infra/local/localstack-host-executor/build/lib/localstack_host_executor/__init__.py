"""A LocalStack Lambda runtime executor that runs bootstraps as host processes."""
