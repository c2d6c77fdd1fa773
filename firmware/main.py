# The band's entry point, copied to the board's root by `anklet flash`.
from anklet_fw import app

app.main()
