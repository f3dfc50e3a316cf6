from tray_agent.cli import main

main()
