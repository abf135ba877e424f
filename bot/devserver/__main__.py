"""`python -m bot.devserver`: the dev server without the bot's CLI."""

import sys

from bot.devserver.cli import main

sys.exit(main())
