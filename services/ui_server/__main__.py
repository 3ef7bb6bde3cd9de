from services.ui_server.app import main

main()
