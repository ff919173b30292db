// Model: see Package.swift
