from pt2canon.cli import main

raise SystemExit(main())
