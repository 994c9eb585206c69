from robinterp.cli.main import main

raise SystemExit(main())
