from robinterp.cli import main

raise SystemExit(main())
