print("kubesnap: not built yet")
