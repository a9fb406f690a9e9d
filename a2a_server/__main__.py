from a2a_server.cli import main

raise SystemExit(main())
