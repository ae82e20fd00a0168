module kubeship.local/stack/responder

go 1.26.0
