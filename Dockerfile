FROM python:3.11-slim
WORKDIR /app
# Dependencies from the hashed lock first (a layer that changes only with the lock),
# then the project itself without resolving anything again.
COPY requirements/lock.txt ./requirements/
RUN pip install --no-cache-dir --require-hashes -r requirements/lock.txt
COPY pyproject.toml README.md settings.py ./
COPY actors ./actors
COPY adapters ./adapters
COPY cli ./cli
COPY gateway ./gateway
COPY messages ./messages
COPY models ./models
COPY node_agent ./node_agent
COPY runtime ./runtime
COPY wire ./wire
RUN pip install --no-cache-dir --no-deps . && pip check
USER nobody
CMD ["hero-onboarding", "gateway"]
