"""One module per `shipway` subcommand; each has add_arguments(parser) and run(ctx, args)."""
