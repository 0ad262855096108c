"""Value lists with rough real-world frequencies (California Medi-Cal population).

Weights are relative; a name search such as ``mar`` matches Maria, Mario, Marco, Martinez,
Marquez, Omar, Tamara... which is a realistic share of the patients (about one in six).
"""

FIRST_NAMES: list[tuple[str, int]] = [
    ("Maria", 30), ("Jose", 22), ("Juan", 18), ("Luis", 12), ("Carlos", 12), ("Ana", 12),
    ("Jesus", 10), ("Francisco", 10), ("Miguel", 10), ("Antonio", 9), ("Guadalupe", 8),
    ("Rosa", 8), ("Manuel", 8), ("Elizabeth", 8), ("Jennifer", 8), ("Michael", 12),
    ("James", 11), ("John", 11), ("Robert", 10), ("David", 12), ("William", 8), ("Richard", 6),
    ("Joseph", 7), ("Thomas", 5), ("Daniel", 10), ("Christopher", 7), ("Mary", 9),
    ("Patricia", 7), ("Linda", 6), ("Barbara", 5), ("Susan", 5), ("Jessica", 7), ("Sarah", 6),
    ("Karen", 5), ("Nancy", 5), ("Lisa", 5), ("Margaret", 4), ("Sandra", 5), ("Ashley", 6),
    ("Emily", 5), ("Michelle", 5), ("Laura", 5), ("Martha", 5), ("Mario", 5), ("Marco", 4),
    ("Marcus", 3), ("Mark", 5), ("Omar", 4), ("Tamara", 2), ("Marisol", 3), ("Maribel", 3),
    ("Veronica", 5), ("Alejandro", 6), ("Ricardo", 5), ("Fernando", 5), ("Javier", 6),
    ("Roberto", 6), ("Eduardo", 5), ("Gabriel", 5), ("Angel", 6), ("Adriana", 4),
    ("Alejandra", 4), ("Gabriela", 5), ("Sofia", 5), ("Isabella", 4), ("Daniela", 4),
    ("Valeria", 3), ("Camila", 3), ("Lucia", 3), ("Carmen", 5), ("Teresa", 4), ("Yolanda", 3),
    ("Leticia", 3), ("Wei", 3), ("Mei", 2), ("Minh", 3), ("Thanh", 2), ("Linh", 2), ("Hoa", 2),
    ("Jin", 2), ("Hyun", 2), ("Priya", 2), ("Raj", 2), ("Anil", 1), ("Aaliyah", 2),
    ("DeShawn", 2), ("Jamal", 2), ("Keisha", 2), ("Tyrone", 1), ("Andre", 3), ("Kevin", 5),
    ("Brian", 5), ("Jason", 5), ("Ryan", 4), ("Eric", 4), ("Steven", 5), ("Anthony", 6),
    ("Kimberly", 4), ("Angela", 4), ("Stephanie", 4), ("Nicole", 4), ("Samantha", 3),
    ("Rachel", 3), ("Amanda", 4), ("Melissa", 4), ("Deborah", 3), ("Dorothy", 2), ("Helen", 2),
    ("Ruth", 2), ("Sharon", 3), ("Donna", 3), ("Carol", 3), ("Betty", 2), ("Joyce", 2),
    ("Diane", 2), ("Janet", 2), ("Cynthia", 3), ("Pedro", 4), ("Raul", 3), ("Sergio", 4),
    ("Arturo", 3), ("Hector", 3), ("Ruben", 3), ("Oscar", 4), ("Victor", 4), ("Martin", 4),
    ("Marta", 2),
]  # fmt: skip

LAST_NAMES: list[tuple[str, int]] = [
    ("Garcia", 40), ("Hernandez", 30), ("Martinez", 28), ("Lopez", 28), ("Gonzalez", 25),
    ("Rodriguez", 25), ("Perez", 18), ("Sanchez", 18), ("Ramirez", 16), ("Torres", 12),
    ("Flores", 14), ("Rivera", 12), ("Gomez", 10), ("Diaz", 10), ("Reyes", 9), ("Morales", 9),
    ("Cruz", 8), ("Ortiz", 8), ("Gutierrez", 8), ("Chavez", 8), ("Ramos", 7), ("Ruiz", 7),
    ("Alvarez", 7), ("Mendoza", 7), ("Castillo", 6), ("Jimenez", 6), ("Vasquez", 6),
    ("Romero", 6), ("Herrera", 6), ("Medina", 5), ("Aguilar", 5), ("Vargas", 5), ("Castro", 5),
    ("Guzman", 4), ("Munoz", 4), ("Salazar", 4), ("Marquez", 3), ("Delgado", 4),
    ("Contreras", 4), ("Soto", 4), ("Smith", 20), ("Johnson", 16), ("Williams", 14),
    ("Brown", 13), ("Jones", 13), ("Miller", 10), ("Davis", 10), ("Wilson", 7), ("Anderson", 6),
    ("Taylor", 6), ("Thomas", 6), ("Moore", 5), ("Jackson", 6), ("Martin", 5), ("Lee", 10),
    ("Thompson", 5), ("White", 5), ("Harris", 5), ("Clark", 4), ("Lewis", 4), ("Robinson", 4),
    ("Walker", 4), ("Young", 4), ("Allen", 4), ("King", 4), ("Wright", 4), ("Scott", 3),
    ("Hill", 3), ("Green", 3), ("Adams", 3), ("Baker", 3), ("Nelson", 3), ("Carter", 3),
    ("Mitchell", 3), ("Roberts", 3), ("Campbell", 3), ("Parker", 3), ("Evans", 3),
    ("Edwards", 2), ("Collins", 2), ("Stewart", 2), ("Morris", 2), ("Murphy", 2), ("Cook", 2),
    ("Rogers", 2), ("Nguyen", 12), ("Tran", 6), ("Le", 5), ("Pham", 4), ("Kim", 6), ("Park", 4),
    ("Chen", 7), ("Wang", 6), ("Li", 4), ("Zhang", 4), ("Liu", 4), ("Huang", 3), ("Wong", 5),
    ("Chan", 3), ("Singh", 4), ("Patel", 4), ("Santos", 3), ("Marin", 2), ("Amaral", 1),
    ("Dimarco", 1),
]  # fmt: skip

# (city, zip prefix)
CITIES: list[tuple[tuple[str, str], int]] = [
    (("Los Angeles", "900"), 30), (("San Diego", "921"), 10), (("San Jose", "951"), 8),
    (("Fresno", "937"), 7), (("Sacramento", "958"), 7), (("Long Beach", "908"), 5),
    (("Oakland", "946"), 5), (("Bakersfield", "933"), 5), (("Anaheim", "928"), 4),
    (("Santa Ana", "927"), 4), (("Riverside", "925"), 4), (("Stockton", "952"), 4),
    (("San Bernardino", "924"), 4), (("Modesto", "953"), 3), (("Salinas", "939"), 2),
    (("Oxnard", "930"), 2), (("Pomona", "917"), 2), (("Visalia", "932"), 2),
]  # fmt: skip

STREETS = [
    "Main St", "Oak Ave", "Pine St", "Maple Ave", "Cedar St", "Elm St", "Washington Blvd",
    "Lincoln Ave", "Mission St", "Broadway", "Sunset Blvd", "El Camino Real", "Santa Fe Ave",
    "Alvarado St", "Figueroa St", "Valencia St", "Market St", "Olive Ave", "Palm Dr",
    "Vista Way",
]  # fmt: skip

ECM_PROVIDERS = [
    "Community Health Partners", "Valley Care Network", "Bay Area Care Coordination",
    "Golden State ECM Services", "Harbor Community Clinics", "Sierra Health Alliance",
    "Pacific Coast Care Management", "Inland Empire Health Collaborative",
    "Central Valley Wellness", "Sunrise Community Services", "La Clinica Unida",
    "Eastside Health Center", "North County ECM", "Mission Neighborhood Health",
    "Redwood Care Partners", "Desert Sun Health", "Unity Care Collaborative",
    "Family Health Alliance", "Coastal Care Connect", "Westside Integrated Care",
]  # fmt: skip

# (value, weight); "" is "not given".
MEMBER_STATUSES = [
    ("continuing_member", 55), ("new_member", 15), ("pending_member", 10),
    ("inactive_member", 12), ("terminated_member", 8),
]  # fmt: skip
ACUITY_LEVELS = [("low", 50), ("medium", 30), ("high", 15), ("", 5)]
GENDERS = [("female", 52), ("male", 45), ("other", 1), ("unknown", 1), ("", 1)]
AUTH_STATUSES = [("approved", 60), ("pending", 15), ("expired", 15), ("denied", 10)]
AUTH_TYPES = [("ECM", 80), ("CS", 20)]
AUTHORIZATION_TYPES = [("Initial", 60), ("Reauthorization", 35), ("Retro", 5)]
SERVICES = ["housing", "nutrition", "transportation", "behavioral_health", "substance_use"]
ACTIVITY_KINDS = [
    ("member_imported", 30), ("note", 25), ("lcm_assigned", 20), ("status_changed", 15),
    ("patient_updated", 10),
]  # fmt: skip
